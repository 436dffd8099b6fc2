#include <iostream>
#include <string>

class Animal {
public:
    explicit Animal(const std::string& name) : name_(name) {}
    virtual ~Animal() = default;
    virtual std::string sound() const { return "..."; }
    void speak() const {
        std::cout << name_ << " says " << sound() << std::endl;
    }

private:
    std::string name_;
};

class Dog : public Animal {
public:
    Dog() : Animal("Dog") {}
    std::string sound() const override { return "Woof"; }
};

class Cat : public Animal {
public:
    Cat() : Animal("Cat") {}
    std::string sound() const override { return "Meow"; }
};

class Fish : public Animal {
public:
    Fish() : Animal("Fish") {}
};

int main() {
    Dog dog;
    Cat cat;
    Fish fish;
    const Animal* animals[] = {&dog, &cat, &fish};
    for (const Animal* animal : animals) {
        animal->speak();
    }
    return 0;
}
