#include <iostream>
#include <string>

class BankAccount {
public:
    BankAccount(const std::string& owner, int balance) : owner_(owner), balance_(balance) {}

    void deposit(int amount) {
        balance_ += amount;
        std::cout << "Deposited " << amount << std::endl;
    }

    bool withdraw(int amount) {
        if (amount > balance_) {
            std::cout << "Cannot withdraw " << amount << ": insufficient funds" << std::endl;
            return false;
        }
        balance_ -= amount;
        std::cout << "Withdrew " << amount << std::endl;
        return true;
    }

    void show() const {
        std::cout << owner_ << " has balance " << balance_ << std::endl;
    }

private:
    std::string owner_;
    int balance_;
};

int main() {
    BankAccount account("Maria", 100);
    account.show();
    account.deposit(50);
    account.withdraw(30);
    account.withdraw(500);
    account.show();
    return 0;
}
